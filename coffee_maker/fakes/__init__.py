"""Faithful local fakes of remote services, used by tests and by `code-developer demo`."""
