// A real OpenID provider (panva/oidc-provider, OpenID Certified) on loopback for the node's tests and
// load runs. Usage: node provider.mjs <config.json>, where the JSON file has
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "clients": [oidc-provider client metadata],
//    "jwks": {"keys": [private JWKs]}, "id_token_ttl": seconds}
// It prints "ready <issuer>" on stdout once it listens.
//
// Accounts are made up from their id, so tests need no user database: account "p79991234567" has the
// verified phone number +79991234567, any other id has none; every account has a given name, a family
// name and an e-mail address (claims the node must NOT keep, tests/messenger/identity).
//
// Interaction without a browser: GET /interaction/<uid>?account=<id> logs <id> in (login prompt) or
// grants every scope and claim asked for (consent prompt) and redirects back into the authorization
// flow; a client follows the redirects until the one to its redirect URI.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function claimsOf(id) {
  const claims = { sub: id, given_name: 'Ivan', family_name: 'Testov', email: `${id}@idp.test`, email_verified: true };
  if (id.startsWith('p')) Object.assign(claims, { phone_number: `+${id.slice(1)}`, phone_number_verified: true });
  return claims;
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
  claims: {
    openid: ['sub'],
    phone: ['phone_number', 'phone_number_verified'],
    profile: ['given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'phone', 'profile', 'email'],
  conformIdTokenClaims: false, // the granted claims go into the ID token, as national providers do
  pkce: { required: () => true }, // S256 only (oidc-provider's default methods)
  features: { devInteractions: { enabled: false } },
  ttl: {
    IdToken: config.id_token_ttl,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
  cookies: { keys: ['msgfleet-test-provider'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.use(async (ctx, next) => {
  const match = ctx.method === 'GET' && ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match) return next();
  const account = ctx.query.account;
  if (!account) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'give ?account=<id>' };
    return undefined;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const missing = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  ctx.respond = false; // interactionFinished writes the redirect itself
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  return undefined;
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
