"""schemathesis hooks for scripts/api-fuzz.

The fuzzer runs as an administrator and may call every operation, the
stateful phase with ids it has read from earlier answers. Changing its own
password, locking or deleting its own account would end its login and turn
the rest of the run into 401s, so a call aimed at its own account is aimed
at an account that does not exist instead (a 404, still checked against the
contract).
"""

import os
import uuid

import schemathesis

OWN_ID = os.environ["GATEHOUSE_FUZZ_USER_ID"]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    params = case.path_parameters or {}
    if case.operation.path.startswith("/api/v1/users/") and params.get("id") == OWN_ID:
        params["id"] = str(uuid.uuid4())
