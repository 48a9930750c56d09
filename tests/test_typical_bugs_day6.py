"""Day 6's typical learner bugs: each fails a visible test with a pointed message
(the checks are in ``typical_bugs.py``)."""

from typical_bugs import tests_for

(
    test_reference_solution_passes_every_visible_test,
    test_each_exercise_lists_at_least_three_typical_bugs,
    test_typical_bug_fails_a_visible_test_with_a_pointed_message,
    test_a_later_test_broken_by_the_bug_says_to_fix_the_earlier_one_first,
) = tests_for("day6")
