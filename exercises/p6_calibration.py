"""Phase 6 exercise: the expected calibration error (ECE).

Task: write expected_calibration_error(confidence, correct, num_bins): confidence (N,) holds the
    model's probability for its answer, correct (N,) whether that answer was right (bool). Split
    (0, 1] into num_bins equal bins (bin b holds confidences in (b/n, (b+1)/n]; a confidence of
    exactly 0 goes to the first bin). For each bin with answers, take
    |accuracy in the bin - mean confidence in the bin| weighted by its share of all answers;
    return the sum as a float.
Why it matters: a model that says "90% sure" should be right 90% of the time. The ECE is the
    average gap; 05_understand_model.py prints it for the CNN and the MLP and draws the
    reliability diagram.
Belongs to: Phase 6, 05_understand_model.py (calibration).
Check it: python -m exercises check 6

Hints (`python -m exercises check 6 --hint` shows the next one):
  1. bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1) gives each
     answer its bin; a confidence of 1.0 lands in the last bin.
  2. For b in range(num_bins): inside = bins == b; skip the bin when inside.sum() == 0 (its mean
     would be NaN).
  3. correct[inside].float().mean() is the bin's accuracy; weight |gap| by inside.sum() / N.
"""

import torch


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor,
                               num_bins: int = 10) -> float:
    """confidence (N,) in [0, 1], correct (N,) bool -> the ECE, a float in [0, 1]."""
    raise NotImplementedError("your turn: write expected_calibration_error() in "
                              "exercises/p6_calibration.py")
