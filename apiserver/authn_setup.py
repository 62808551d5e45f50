"""Which authenticators the API server runs, from its configuration.

Contract: `build_authenticator(config, ctx) -> Authenticator`:
- client certificates whenever the server verifies them (`--client-ca-file`; the check itself
  is the TLS handshake's, see apiserver/httpproto.py);
- the static token file (`--token-auth-file`), read once at start (a bad file stops the server
  with a message naming the line, as kube-apiserver does);
- ServiceAccount JWTs verified with `--service-account-key-file` (default: the signing key)
  for the issuer `--service-account-issuer` and `--api-audiences` (default: the issuer);
- bootstrap tokens (Secrets kube-system/bootstrap-token-ID, `--enable-bootstrap-token-auth`,
  on by default here since `kubelite join` relies on them) when any other source is set;
- no authenticator at all (an in-process app for tests): everyone is anonymous everywhere;
  `--anonymous-auth=false` refuses anonymous requests even on the health paths.
"""

from __future__ import annotations

from pathlib import Path

from apiserver.auth.authn import Authenticator, TokenAuthenticator
from apiserver.auth.authn_bootstrap import BootstrapTokens
from apiserver.auth.authn_sa import ServiceAccountTokens
from apiserver.auth.authn_tokens import StaticTokens
from apiserver.auth.satokens import TokenSigner, TokenVerifier
from apiserver.config import ApiServerConfig
from apiserver.handlers_common import Ctx


def audiences(config: ApiServerConfig) -> list[str]:
    return config.api_audiences or [config.service_account_issuer]


def build_signer(config: ApiServerConfig) -> TokenSigner | None:
    """The ServiceAccount token signer (TokenRequest), when a signing key is configured."""
    if not config.service_account_signing_key_file:
        return None
    return TokenSigner(Path(config.service_account_signing_key_file).read_bytes(), config.service_account_issuer)


def build_authenticator(config: ApiServerConfig, ctx: Ctx) -> Authenticator:
    tokens: list[TokenAuthenticator] = []
    if config.token_auth_file:
        tokens.append(StaticTokens.load(config.token_auth_file))
    verify_files = config.service_account_key_files or (
        [config.service_account_signing_key_file] if config.service_account_signing_key_file else [])
    if verify_files:
        verifier = TokenVerifier([Path(f).read_bytes() for f in verify_files], [config.service_account_issuer])
        tokens.append(ServiceAccountTokens(verifier, audiences(config), lambda: ctx.storage))
    configured = bool(config.client_ca_file or tokens)
    if configured and config.enable_bootstrap_token_auth:
        tokens.append(BootstrapTokens(lambda: ctx.storage))
    return Authenticator(tokens, anonymous_everywhere=not configured and config.anonymous_auth,
                         anonymous_paths=config.anonymous_auth)
