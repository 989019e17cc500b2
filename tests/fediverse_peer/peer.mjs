// An independent ActivityPub server for the tests, built on Fedify (https://fedify.dev).
//
// It has one user, "reader", and does what a fediverse server does when someone follows a
// feed account: WebFinger lookup (over https, as Fedify always does for acct: handles),
// fetch the actor, send a signed Follow (draft-cavage HTTP Signatures), and receive the
// Accept, Create, Update and Delete in its inboxes, where Fedify verifies every signature
// with its own code (fetching our key by its keyId) before a listener sees the activity.
//
// The Python tests drive it over a small JSON control API:
//   POST /control/follow   {"handle": "@vi@localhost:PORT"}   look up, follow
//   POST /control/unfollow {"handle": ...}                    Undo the Follow
//   POST /control/outbox   {"handle": ...}                    read the outbox with Fedify
//   POST /control/nodeinfo {"url": "https://localhost:PORT/"} parse NodeInfo (strict)
//   GET  /control/received                                    what the listeners got
// It prints {"ready": "http://127.0.0.1:PORT"} on stdout once it listens.

import http from "node:http";
import { configure } from "@logtape/logtape";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  parseNodeInfo,
} from "@fedify/fedify";
import {
  Accept,
  Create,
  Delete,
  Endpoints,
  Follow,
  isActor,
  Person,
  Undo,
  Update,
} from "@fedify/fedify/vocab";

if (process.env.PEER_DEBUG) {
  // Fedify's own log, on stderr (stdout carries only the ready line).
  const stderr = (record) =>
    process.stderr.write(`${record.level} ${record.category.join(".")} ${record.message.join("")}\n`);
  await configure({
    sinks: { stderr },
    loggers: [{ category: "fedify", lowestLevel: "debug", sinks: ["stderr"] }],
  });
}

const USER = "reader";
const NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.";
const received = [];
const errors = [];
const follows = new Map(); // handle -> { follow, target }
const keys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    errors.push(String(error?.stack ?? error));
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: String(error) }));
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const federation = createFederation({
  kv: new MemoryKvStore(),
  origin,
  // The servers under test run on this machine; Fedify refuses private addresses otherwise.
  allowPrivateAddress: true,
  // Sign with draft-cavage from the first request (Mastodon's scheme) rather than trying
  // RFC 9421 first and falling back.
  firstKnock: "draft-cavage-http-signatures-12",
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== USER) return null;
    const pairs = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Peer reader",
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pairs[0].cryptographicKey,
      assertionMethods: pairs.map((pair) => pair.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === USER ? [keys] : []));

async function record(ctx, activity) {
  // Only activities whose HTTP Signature Fedify verified reach a listener.
  const object = await activity.getObject({ crossOrigin: "trust" });
  received.push({
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    objectType: object?.constructor?.name ?? null,
    objectId: object?.id?.href ?? null,
    json: await activity.toJsonLd(),
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, record)
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Undo, record)
  .onError((_ctx, error) => {
    errors.push(String(error?.stack ?? error));
  });

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function lookupActor(ctx, handle) {
  const target = await ctx.lookupObject(handle);
  if (!isActor(target)) throw new Error(`lookup ${handle}: not an actor (${target})`);
  return target;
}

async function control(req, res, url) {
  const ctx = federation.createContext(new URL(origin), undefined);
  if (req.method === "GET" && url.pathname === "/control/received") {
    return json(res, 200, { received, errors });
  }
  const input = JSON.parse((await readBody(req)).toString() || "{}");
  if (url.pathname === "/control/follow") {
    const target = await lookupActor(ctx, input.handle);
    const follow = new Follow({
      id: new URL(`${origin}/follows/${crypto.randomUUID()}`),
      actor: ctx.getActorUri(USER),
      object: target.id,
    });
    await ctx.sendActivity({ identifier: USER }, target, follow);
    follows.set(input.handle, { follow, target });
    const icon = await target.getIcon();
    const key = await target.getPublicKey();
    return json(res, 200, {
      id: target.id.href,
      type: target.constructor.name,
      preferredUsername: target.preferredUsername?.toString() ?? null,
      name: target.name?.toString() ?? null,
      summary: target.summary?.toString() ?? null,
      icon: icon?.url?.href ?? null,
      inbox: target.inboxId?.href ?? null,
      outbox: target.outboxId?.href ?? null,
      followers: target.followersId?.href ?? null,
      sharedInbox: target.endpoints?.sharedInbox?.href ?? null,
      publicKeyId: key?.id?.href ?? null,
      follow: follow.id.href,
    });
  }
  if (url.pathname === "/control/unfollow") {
    const { follow, target } = follows.get(input.handle);
    const undo = new Undo({
      id: new URL(`${follow.id.href}/undo`),
      actor: ctx.getActorUri(USER),
      object: follow,
    });
    await ctx.sendActivity({ identifier: USER }, target, undo);
    return json(res, 200, { undo: undo.id.href });
  }
  if (url.pathname === "/control/outbox") {
    const target = await lookupActor(ctx, input.handle);
    const outbox = await target.getOutbox();
    const items = [];
    for await (const item of ctx.traverseCollection(outbox)) {
      const object = await item.getObject({ crossOrigin: "trust" });
      items.push({ type: item.constructor.name, objectId: object?.id?.href ?? null });
    }
    return json(res, 200, { totalItems: outbox?.totalItems ?? null, items });
  }
  if (url.pathname === "/control/nodeinfo") {
    // getNodeInfo() refuses private addresses, so fetch here and parse with Fedify (strict).
    const wellKnown = await (await fetch(new URL("/.well-known/nodeinfo", input.url))).json();
    const link = wellKnown.links.find((l) => l.rel.startsWith(NODEINFO_SCHEMA));
    const info = parseNodeInfo(await (await fetch(link.href)).json());
    return json(res, 200, {
      software: info?.software?.name ?? null,
      protocols: info?.protocols ?? null,
      users: info?.usage?.users?.total ?? null,
    });
  }
  return json(res, 404, { error: "no such control endpoint" });
}

async function handle(req, res) {
  const url = new URL(req.url, origin);
  if (url.pathname.startsWith("/control/")) return control(req, res, url);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const body = ["GET", "HEAD"].includes(req.method) ? undefined : await readBody(req);
  const response = await federation.fetch(new Request(url, { method: req.method, headers, body }), {
    contextData: undefined,
    onNotFound: () => new Response("Not found", { status: 404 }),
    onNotAcceptable: () => new Response("Not acceptable", { status: 406 }),
  });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

process.on("SIGTERM", () => server.close(() => process.exit(0)));
console.log(JSON.stringify({ ready: origin }));
