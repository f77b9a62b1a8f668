"""Reference solution of exercises/p4_early_stopping.py (try it yourself first)."""


def should_stop(val_accuracies: list[float], patience: int) -> bool:
    """True once the best validation accuracy is `patience` or more epochs old."""
    if not val_accuracies:
        return False
    best_epoch = val_accuracies.index(max(val_accuracies))  # the first epoch with the best value
    epochs_since_best = len(val_accuracies) - 1 - best_epoch
    return epochs_since_best >= patience
