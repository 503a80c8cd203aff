# Sourced by the eng/ci-*.sh scripts whose results are counted checks rather than xunit tests:
#   . eng/checks.sh RESULTS_DIR NAME   sets $results to RESULTS_DIR's absolute path, makes it, and writes
#                                      $results/NAME-checks.counts ("PASSED FAILED", what .ci/run adds up) now and
#                                      after every check, so that a script that dies halfway still reports what it
#                                      got through.
#   pass LABEL                         one check passed
#   fail LABEL [DETAIL]                one check failed, with what went wrong
#   checks_done                        the totals on stdout; its status (the script's last command) is 0 only if
#                                      nothing failed.

results=$(realpath -m "$1")
mkdir -p "$results"
checks_name=$2
checks_file="$results/$2-checks.counts"
passed=0 failed=0
counts() { echo "$passed $failed" > "$checks_file"; }
pass() { passed=$((passed + 1)); echo "PASS  $1"; counts; }
fail() { failed=$((failed + 1)); echo "FAIL  $1${2:+: $2}"; counts; }
checks_done() { echo "$checks_name checks: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
counts
