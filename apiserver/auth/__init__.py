"""Authentication and authorization of API requests (issue 15).

The shared shapes live in `apiserver.auth.user`; authenticators and the authorizers are
built on them (see docs/APISERVER.md once they land).
"""
