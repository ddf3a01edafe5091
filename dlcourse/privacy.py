"""Measuring what a model leaks about its training data, as taught in 14_lightweight_explainable_private.

A membership-inference attack guesses "this example was in the training set" when the model's loss on it
is low (Yeom et al., 2018). How well it does, beyond chance, is a measured privacy leak.

Used in notebooks: 14.
"""

from __future__ import annotations

import numpy as np


def per_example_loss(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example: −log p(true class)."""
    p = np.asarray(probabilities)[np.arange(len(labels)), np.asarray(labels)]
    return -np.log(np.clip(p, 1e-12, 1.0))


def membership_attack(member_loss: np.ndarray, non_member_loss: np.ndarray) -> dict[str, float]:
    """The loss-threshold attack on equally many members (training examples) and non-members.

    Returns auc (0.5 = no leak), advantage (the best TPR − FPR over thresholds; 0 = no leak, 1 = every
    membership revealed) and accuracy (of the best threshold, on the balanced set)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    member_loss, non_member_loss = np.asarray(member_loss), np.asarray(non_member_loss)
    if len(member_loss) != len(non_member_loss) or len(member_loss) == 0:
        raise ValueError("member_loss and non_member_loss must be non-empty and of equal length (a balanced "
                         f"attack), got {len(member_loss)} and {len(non_member_loss)}")
    is_member = np.r_[np.ones(len(member_loss)), np.zeros(len(non_member_loss))]
    guess = -np.r_[member_loss, non_member_loss]  # low loss -> "member"
    fpr, tpr, _ = roc_curve(is_member, guess)
    advantage = float(np.max(tpr - fpr))
    return {"auc": float(roc_auc_score(is_member, guess)), "advantage": advantage,
            "accuracy": 0.5 + advantage / 2}


def attack_with_noise(member_loss: np.ndarray, non_member_loss: np.ndarray, seed: int = 0,
                      resamples: int = 200) -> dict[str, float]:
    """:func:`membership_attack` on equally many members and non-members, with the noise of its advantage.

    The larger group is cut to the size of the smaller (its first entries: pass them in random order). Adds
    `pairs` (examples per side) and `advantage s.e.`: the standard deviation of the advantage over `resamples`
    bootstrap resamples of both groups, which is large when a group is small (a rare class)."""
    member_loss, non_member_loss = np.asarray(member_loss), np.asarray(non_member_loss)
    n = min(len(member_loss), len(non_member_loss))
    if n < 2:
        raise ValueError(f"the attack needs at least 2 members and 2 non-members, got {len(member_loss)} and "
                         f"{len(non_member_loss)}")
    if resamples < 2:
        raise ValueError(f"resamples must be >= 2, got {resamples}")
    a, b = member_loss[:n], non_member_loss[:n]
    rng = np.random.default_rng(seed)
    spread = [membership_attack(a[rng.integers(0, n, n)], b[rng.integers(0, n, n)])["advantage"]
              for _ in range(resamples)]
    return {**membership_attack(a, b), "pairs": n, "advantage s.e.": float(np.std(spread))}
