"""A hidden test blocks every reference function the learner could hand its work to.

In-process (quick mode, hidden tests included): 4_4's ``wd_network`` solution replaced by code
that gets the weight decay from ``course.regularizers`` (whichever function of it: the penalty,
a private ``_penalty`` captured before the test ran, a new ``L2`` object) must fail the hidden
part of ``test_network_grad`` with the "reference called" message, while its visible part (which
cannot tell) passes; the honest solution passes.
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


def _run(solution: str | None) -> BaseException | None:
    """Run the notebook up to test_network_grad with ``wd_network`` replaced; its error."""
    with notebook_context(NOTEBOOK) as namespace:
        for cell in code_cells(NOTEBOOK, hidden=True):
            if cell.grade_id == "wd_network" and solution is not None:
                cell.source = solution
            if cell.grade_id == "test_network_grad":
                visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
                run_cell(type(cell)(visible, "visible", False, True), namespace, NOTEBOOK)
                try:
                    run_cell(cell, namespace, NOTEBOOK)
                except AssertionError as error:
                    return error
                return None
            run_cell(cell, namespace, NOTEBOOK)
    raise AssertionError("no test_network_grad cell")


def test_the_honest_solution_passes_the_hidden_test():
    assert _run(None) is None


@pytest.mark.parametrize("route", list(DELEGATING))
def test_delegating_to_course_regularizers_fails_the_hidden_test(route):
    error = _run(DELEGATING[route])
    assert error is not None, f"{route}: the hidden test passed a delegating solution"
    assert "参照実装 (course.regularizers) が呼ばれました" in str(error), str(error)
