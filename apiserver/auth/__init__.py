"""Authentication and authorization of API requests (issue 15).

The shared shapes live in `apiserver.auth.user`; authenticators and the authorizers are
built on them (docs/APISERVER.md). The package sits below the REST handlers, which call it
(NodeRestriction on create, the Ctx's Authorization): it never imports apiserver.handlers*.
The endpoints of the auth APIs (apiserver/access_reviews.py, authn_reviews.py,
tokenrequest.py), the authenticator wiring (apiserver/authn_setup.py) and the API server's own
RBAC writes (apiserver/rbac_writes.py) live beside the handlers.
"""
