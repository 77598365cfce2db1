"""The policy gate's pure logic: configuration, rules, approval state machine, approver checks."""
