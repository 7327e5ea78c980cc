"""The probe: a logistic regression on frozen embeddings, the standard CPU proxy for how
well a subset trains. The bench scores selections with it, `auto` validates its candidates
with it, and the `classifier` hand-off trains it."""

from __future__ import annotations

import numpy as np

from curate.errors import CurateError


class ProbeEvaluator:
    """Logistic regression on embeddings; accuracy and macro-F1 on the test rows.

    Macro-F1 averages over the labels of the test rows (a target-shift test part holds
    only the target's labels). A subset with a single label predicts that label everywhere
    (nothing to fit); `model_` is the last fitted model (None then).

    `tuned_cs`: also score with C chosen among these by cross-validation on the training
    rows (`accuracy_tuned_c`, `macro_f1_tuned_c`): low-budget comparisons warn that a fixed
    C can inflate or hide a selection's gain.

    `C` defaults to 10: embeddings are unit vectors, and scikit-learn's C=1 over-regularises
    them, while a larger C is no better and fits far slower (benchmarks/training.md,
    "The probe's C").
    """

    name = "probe"

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray | None, test_rows: np.ndarray,
                 C: float = 10.0, max_iter: int = 500, tuned_cs: tuple[float, ...] = ()):
        if labels is None:
            raise CurateError("the probe evaluator needs labels but the pool has no label column",
                              "set data.label_column, or use --evaluator lora for "
                              "prompt/response data")
        self.embeddings = embeddings
        self.labels = labels
        self.test_rows = test_rows
        self.C = C
        self.max_iter = max_iter
        self.tuned_cs = tuned_cs

    def score(self, train_rows: np.ndarray, seed: int,
              extra: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
        """Train on `train_rows` (plus `extra` (embeddings, labels): synthetic rows)."""
        from sklearn.metrics import accuracy_score, f1_score

        y_test = self.labels[self.test_rows]
        metrics = {}
        for suffix, tune in [("", False)] + ([("_tuned_c", True)] if self.tuned_cs else []):
            predicted = self.predict(train_rows, seed, extra, tune)
            metrics |= {f"accuracy{suffix}": float(accuracy_score(y_test, predicted)),
                        f"macro_f1{suffix}": float(f1_score(y_test, predicted, average="macro",
                                                            labels=np.unique(y_test)))}
        return metrics

    def predict(self, train_rows: np.ndarray, seed: int,
                extra: tuple[np.ndarray, np.ndarray] | None = None,
                tune_c: bool = False) -> np.ndarray:
        """The test rows' labels as predicted by the probe trained on `train_rows`; with
        `tune_c` its C is chosen among `tuned_cs` by stratified cross-validation on the
        training rows (at most 5 folds; the fixed C where a label has a single row)."""
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from threadpoolctl import threadpool_limits

        x_train, y_train = self.embeddings[train_rows], self.labels[train_rows]
        if extra is not None:
            x_train = np.concatenate([x_train, extra[0]])
            y_train = np.concatenate([y_train, extra[1]])
        if len(np.unique(y_train)) == 1:
            self.model_ = None
            return np.full(len(self.test_rows), y_train[0])
        smallest_label = np.unique(y_train, return_counts=True)[1].min()
        if tune_c and self.tuned_cs and smallest_label >= 2:
            self.model_ = LogisticRegressionCV(Cs=list(self.tuned_cs), l1_ratios=(0.0,),
                                               scoring="accuracy", use_legacy_attributes=False,
                                               cv=int(min(5, smallest_label)),
                                               max_iter=self.max_iter, random_state=seed)
        else:
            self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter,
                                             random_state=seed)
        # A probe's matrices are small: BLAS threads only contend for the cores, and on a
        # busy machine that multiplies a fit's time. A limit holds for the BLAS libraries
        # loaded when it is set: the LogisticRegression import above has loaded scipy's.
        with threadpool_limits(1):
            self.model_.fit(x_train, y_train)
        return self.model_.predict(self.embeddings[self.test_rows])
