"""A hidden test blocks every reference function the learner could hand its work to.

In-process (quick mode, hidden tests included): 4_4's ``wd_network`` solution replaced by code
that gets the weight decay from ``course.regularizers`` (whichever function of it: the penalty,
a private ``_penalty`` captured before the test ran, a new ``L2`` object) must fail the hidden
part of ``test_network_grad`` with the "reference called" message, while its visible part (which
cannot tell) passes; the honest solution passes. Likewise a 4_3 Dropout whose methods call the
reference's, captured before the test ran, fails every hidden part that exercises them, and so
does a Day 5 answer (5_1's L1 penalty, 5_2's RBF kernel) that keeps the reference function as a
default argument: an attribute swapped for a refusing stand-in does not reach it, swapped code does.
"""

from __future__ import annotations

import pytest
from notebook_cells import code_cells, notebook_context, run_cell

NOTEBOOK = "day4/4_4_weight_decay"
HONEST_GRADIENT = '''
def gradient_with_weight_decay(network, x, t, lam):
    grads = network.gradient(x, t)
    return {k: g + lam * network.params[k] if k.startswith("W") else g.copy()
            for k, g in grads.items()}
'''
DELEGATING = {
    "the penalty of L2": '''
def loss_with_weight_decay(network, x, t, lam, train=True):
    return network.loss(x, t, train=train) + regularizers.L2(lam).penalty(network.params)
''' + HONEST_GRADIENT,
    "a private function captured before the test": '''
_own_penalty = regularizers.L2._penalty


def loss_with_weight_decay(network, x, t, lam, train=True):
    fake = regularizers.L2.__new__(regularizers.L2)
    fake.lam = lam
    return network.loss(x, t, train=train) + sum(
        _own_penalty(fake, p) for k, p in network.params.items() if k.startswith("W"))
''' + HONEST_GRADIENT,
    "the gradient of L2": '''
def loss_with_weight_decay(network, x, t, lam, train=True):
    return network.loss(x, t, train=train) + weight_decay_penalty(network.params, lam)


def gradient_with_weight_decay(network, x, t, lam):
    grads = network.gradient(x, t)
    decay = regularizers.L2(lam).gradient(network.params)
    return {k: g + decay.get(k, 0.0) for k, g in grads.items()}
''',
}


def _run(solution: str | None, notebook: str = NOTEBOOK, cell_id: str = "wd_network",
         test: str = "test_network_grad") -> BaseException | None:
    """Run ``notebook`` up to ``test`` with the solution cell ``cell_id`` replaced; its error."""
    with notebook_context(notebook) as namespace:
        for cell in code_cells(notebook, hidden=True):
            if cell.grade_id == cell_id and solution is not None:
                cell.source = solution
            if cell.grade_id == test:
                visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
                run_cell(type(cell)(visible, "visible", False, True), namespace, notebook)
                try:
                    run_cell(cell, namespace, notebook)
                except AssertionError as error:
                    return error
                return None
            try:
                run_cell(cell, namespace, notebook)
            except AssertionError:
                if not cell.is_test:
                    raise  # an earlier test may fail (graded as 0 there), the run goes on
    raise AssertionError(f"no {test} cell")


def test_the_honest_solution_passes_the_hidden_test():
    assert _run(None) is None


@pytest.mark.parametrize("route", list(DELEGATING))
def test_delegating_to_course_regularizers_fails_the_hidden_test(route):
    error = _run(DELEGATING[route])
    assert error is not None, f"{route}: the hidden test passed a delegating solution"
    assert "参照実装 (course.regularizers) が呼ばれました" in str(error), str(error)


CAPTURED_DROPOUT = '''
_reference_forward = course.layers.Dropout.forward
_reference_backward = course.layers.Dropout.backward


class Dropout(Layer):
    keep_ratio = property(lambda self: 1 - self.drop_ratio)

    def __init__(self, drop_ratio=0.5, inverted=False, rng=None, seed=None):
        super().__init__()
        self.drop_ratio, self.inverted, self.mask = drop_ratio, inverted, None
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def forward(self, x, train=True):
        return _reference_forward(self, x, train)

    def backward(self, dout):
        return _reference_backward(self, dout)
'''


@pytest.mark.parametrize("test", ["test_forward_train", "test_inverted", "test_backward"])
def test_a_dropout_calling_captured_reference_methods_fails_the_hidden_tests(test):
    assert _run(None, "day4/4_3_dropout", "dropout_class", test) is None
    error = _run(CAPTURED_DROPOUT, "day4/4_3_dropout", "dropout_class", test)
    assert error is not None, f"{test}: the hidden test passed a delegating Dropout"
    assert "参照実装" in str(error), str(error)


# Day 5: the honest cell, then a redefinition that keeps the reference as a default argument
DEFAULT_ARGUMENT = {
    "5_1 L1 penalty": (
        "day5/5_1_penalties", "l1", "test_l1",
        "参照実装 (course.regularizers) が呼ばれました", '''

def l1_penalty(params, lam, _reference=regularizers.L1._penalty):
    own = regularizers.L1.__new__(regularizers.L1)
    own.lam = lam
    return float(sum(_reference(own, W) for name, W in params.items() if is_weight(name)))
'''),
    "5_2 RBF kernel": (
        "day5/5_2_hyperparameter_search", "gp", "test_rbf_kernel",
        "参照実装 (course.search) が呼ばれました", '''

def rbf_kernel(A, B, length_scale=1.0, signal_var=1.0, _reference=search.rbf_kernel):
    return _reference(A, B, length_scale, signal_var)
'''),
}


@pytest.mark.parametrize("case", list(DEFAULT_ARGUMENT))
def test_a_day5_answer_keeping_the_reference_as_a_default_argument_fails_the_hidden_test(case):
    notebook, cell_id, test, message, delegation = DEFAULT_ARGUMENT[case]
    honest = next(c.source for c in code_cells(notebook) if c.grade_id == cell_id)
    assert _run(honest, notebook, cell_id, test) is None
    error = _run(honest + delegation, notebook, cell_id, test)
    assert error is not None, f"{case}: the hidden test passed a delegating solution"
    assert message in str(error), str(error)
