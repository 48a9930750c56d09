"""dlcourse autograder: a thin layer over nbgrader (release, collect, grade, feedback, report)."""
