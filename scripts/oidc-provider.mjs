// A throwaway OpenID Connect provider for the console's single sign-on tests: the npm
// package `oidc-provider` (installed pinned under target/tools/oidc by scripts/test.sh),
// on 127.0.0.1, with its development login form (any password is accepted), one static
// client, and accounts made up on the spot from the login name typed.
//
//   node scripts/oidc-provider.mjs PORT
//
// The client: `pledge-console`, secret `pledge-console-test-secret` (a loopback test
// server's), authenticating with client_secret_basic, redirect URI
// http://127.0.0.1/console/sign-in/oidc/callback on any port (a native client, RFC 8252's
// loopback rule), so that each test's server on its own port can use it.
//
// The login name is the account: its `email` claim is the name typed, `email_verified`
// true, except for a name that starts with `unverified-`, whose address is not verified.
// The signing keys (RS256, the default for ID tokens, and ES256) are made at start and live
// only in this process.
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node scripts/oidc-provider.mjs PORT');
  process.exit(2);
}

// The package is under target/tools/oidc, not next to this script.
const prefix = process.env.PLEDGE_OIDC_PROVIDER_PREFIX
  ?? path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'target', 'tools', 'oidc');
const require = createRequire(path.join(prefix, 'package.json'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

function signingKey(kid, type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'pledge-console',
    client_secret: 'pledge-console-test-secret',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/console/sign-in/oidc/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: {
    keys: [
      signingKey('test-rsa', 'rsa', { modulusLength: 2048 }),
      signingKey('test-ec', 'ec', { namedCurve: 'P-256' }),
    ],
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email'],
  cookies: { keys: [signingKey('cookie', 'ec', { namedCurve: 'P-256' }).d] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id.replace(/^unverified-/, ''), email_verified: !id.startsWith('unverified-') };
      },
    };
  },
  // The console is a first-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email');
    await grant.save();
    return grant;
  },
});
// The provider's own warnings about a development set-up are expected here.
provider.on('server_error', (ctx, err) => console.error('oidc-provider: server error:', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider: listening on ${issuer}`);
});
