"""Phase 4 exercise: an early-stopping rule.

Task: write should_stop(val_accuracies, patience): val_accuracies holds one validation accuracy
    per finished epoch. Return True when the best accuracy so far was reached `patience` or more
    epochs ago (a tie with the best is not an improvement), else False (also for no epochs yet).
    Example, patience 2: [0.90, 0.95, 0.94] -> False; [0.90, 0.95, 0.94, 0.96] -> False;
    [0.90, 0.95, 0.94, 0.93] -> True.
Why it matters: `03_train_model.py --patience 3` stops a run that has stopped improving and keeps
    the best epoch's weights. It looks at VALIDATION accuracy: the test set never decides anything.
Belongs to: Phase 4, 03_train_model.py --patience (early stopping).
Check it: python -m exercises check 4

Hints (`python -m exercises check 4 --hint` shows the next one):
  1. With no epochs, return False.
  2. val_accuracies.index(max(val_accuracies)) is the FIRST epoch with the best value.
  3. The best is len(val_accuracies) - 1 - that index epochs old; stop when that is >= patience.
"""


def should_stop(val_accuracies: list[float], patience: int) -> bool:
    """True once the best validation accuracy is `patience` or more epochs old."""
    raise NotImplementedError("your turn: write should_stop() in exercises/p4_early_stopping.py")
