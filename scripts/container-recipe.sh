#!/usr/bin/env bash
# The Dockerfile's steps, in its order, as plain commands: a clean checkout of HEAD (git archive)
# in a temporary directory, the build stage there and beside it (as BuildKit runs independent
# stages) the runtime stage in a directory of its own (`npm ci --omit=dev`, then the compiled
# output and the health check), then the result started the way
# the image starts it: NODE_ENV=production, as an unprivileged user when run as root, against
# MariaDB (a throwaway database), Redis and an SMTP catcher. It passes when /health answers, the
# image's health-check command exits 0, a registration's mail reaches SMTP, and SIGTERM ends the
# process with 0.
#
# Container runtimes cannot run on the machines this project is developed and tested on, so CI
# (.ci/run) runs this instead of `docker build` + `docker run`. What that leaves untested is
# said in the README, "Containers".
#
# Needs: git, node/npm, MariaDB at 127.0.0.1:3306 (root, no password; DATABASE_URL_BASE moves it),
# Redis at 127.0.0.1:6379 (RECIPE_REDIS_URL moves it). Leaves nothing behind.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mysql_base="${DATABASE_URL_BASE:-mysql://root@127.0.0.1:3306}"
redis_url="${RECIPE_REDIS_URL:-redis://127.0.0.1:6379}"
step() { printf '\n== recipe: %s\n' "$*"; }
fail() { echo "recipe: FAILED: $*" >&2; exit 1; }
started=$(date +%s)

# The steps below are the Dockerfile's; a Dockerfile that no longer has one of them means this
# script no longer checks what the image does.
for line in \
  'FROM node:${NODE_VERSION}-bookworm-slim AS build' \
  'RUN npm ci --ignore-scripts --no-audit --no-fund' \
  'RUN node scripts/build-if-needed.mjs --force' \
  'RUN npm ci --omit=dev --no-audit --no-fund' \
  'COPY --from=build /src/dist dist/' \
  'COPY --from=build /src/packages/verifier/dist packages/verifier/dist/' \
  'COPY scripts/healthcheck.js ./' \
  'USER node' \
  'CMD ["node", "healthcheck.js"]' \
  'CMD ["node", "dist/src/main.js"]'; do
  grep -qF -- "$line" "$repo/Dockerfile" || fail "the Dockerfile no longer has: $line (update scripts/container-recipe.sh with it)"
done

work="$(mktemp -d /tmp/latchkey-recipe.XXXXXX)"
database="latchkey_recipe_$$_$RANDOM"
app_pid='' smtp_pid='' build_pid='' runtime_pid=''
cleanup() {
  [ -n "$build_pid" ] && kill "$build_pid" 2>/dev/null || true
  [ -n "$runtime_pid" ] && kill "$runtime_pid" 2>/dev/null || true
  [ -n "$app_pid" ] && kill -KILL "$app_pid" 2>/dev/null || true
  [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null || true
  if [ -d "$work/app/node_modules/mysql2" ]; then
    (cd "$work/app" && node -e '
      const url = new URL(process.argv[1]);
      require("mysql2/promise").createConnection({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) })
        .then((c) => c.query("DROP DATABASE IF EXISTS `" + process.argv[2] + "`").then(() => c.end()))
        .catch((e) => console.error("recipe: could not drop " + process.argv[2] + ": " + e.message));' "$mysql_base" "$database") || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Native modules (better-sqlite3) are built against the headers of the Node that runs this, as the
# image builds them for its own Node: under scripts/with-node.mjs that is not the machine's.
node_home="$(dirname "$(dirname "$(command -v node)")")"
[ -f "$node_home/include/node/node.h" ] && export npm_config_nodedir="$node_home"
echo "recipe: Node $(node -v) ($node_home)"

step "clean checkout of $(git -C "$repo" rev-parse --short HEAD) in $work/src"
mkdir -p "$work/src"
git -C "$repo" archive HEAD | tar -x -C "$work/src"

# The two stages share nothing until the runtime copies the build's output, so they run side by
# side, as BuildKit runs them; each stage's own steps keep their order.
build_stage() {
  cd "$work/src"
  npm ci --ignore-scripts --no-audit --no-fund
  node scripts/build-if-needed.mjs --force
}
runtime_stage() {
  cd "$work/app"
  NODE_ENV=production SCARF_ANALYTICS=false npm ci --omit=dev --no-audit --no-fund
}
# The runtime's manifests, as its COPY lines take them from the build context.
mkdir -p "$work/app/packages/verifier" "$work/app/packages/client"
cp "$work/src/package.json" "$work/src/package-lock.json" "$work/app/"
cp "$work/src/packages/verifier/package.json" "$work/app/packages/verifier/"
cp "$work/src/packages/client/package.json" "$work/app/packages/client/"
step "build stage (npm ci --ignore-scripts, the build) and runtime stage (the manifests, npm ci --omit=dev), side by side"
build_stage >"$work/build-stage.log" 2>&1 &
build_pid=$!
runtime_stage >"$work/runtime-stage.log" 2>&1 &
runtime_pid=$!
build_code=0 runtime_code=0
wait "$build_pid" || build_code=$?
wait "$runtime_pid" || runtime_code=$?
build_pid='' runtime_pid=''

grep -v 'EBADENGINE\|^npm warn\|required:\|current:\|^}' "$work/build-stage.log" | sed 's/^/  build | /' || true
grep -v 'EBADENGINE\|^npm warn\|required:\|current:\|^}' "$work/runtime-stage.log" | sed 's/^/  runtime | /' || true
[ "$build_code" = 0 ] || { tail -50 "$work/build-stage.log" >&2; fail "the build stage exited $build_code"; }
[ "$runtime_code" = 0 ] || { tail -50 "$work/runtime-stage.log" >&2; fail "the runtime stage's npm ci exited $runtime_code"; }
echo "recipe: both stages done after $(($(date +%s) - started)) s"

step "runtime stage: the compiled output and the health check"
cd "$work/app"
cp -R "$work/src/dist" dist
cp -R "$work/src/packages/verifier/dist" packages/verifier/dist
cp "$work/src/scripts/healthcheck.js" ./
for dev in autocannon playwright-core smtp-server; do [ ! -e "node_modules/$dev" ] || fail "a dev dependency ($dev) is in the runtime"; done
mkdir -p data && chmod 700 data

# The image runs as `node`; here, as root, the same is done with `nobody`.
run_as=()
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$work"
  chown -R nobody data
  run_as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi

free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
port="$(free_port)"
smtp_port="$(free_port)"
mails="$work/mails.jsonl"
: >"$mails"
chmod 666 "$mails"
node "$work/src/scripts/smtp-catcher.mjs" "$smtp_port" "$mails" &
smtp_pid=$!

step "start: NODE_ENV=production node dist/src/main.js${run_as:+ as nobody}, MariaDB database $database"
key() { node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))'; }
env -i PATH="$PATH" \
  NODE_ENV=production HOST=127.0.0.1 PORT="$port" DATA_DIR="$work/app/data" \
  DATABASE_URL="$mysql_base/$database" REDIS_URL="$redis_url" REDIS_KEY_PREFIX="recipe-$$:" \
  SMTP_URL="smtp://127.0.0.1:$smtp_port" MAIL_FROM='latchkey <no-reply@recipe.test>' \
  REFRESH_TOKEN_KEYS="k1:$(key)" KEY_ENCRYPTION_KEY="$(key)" \
  JWT_ISSUER="http://127.0.0.1:$port" LOG_LEVEL=warn \
  "${run_as[@]}" node dist/src/main.js >"$work/app.log" 2>&1 &
app_pid=$!

for _ in $(seq 120); do
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; fail "latchkey exited during start"; }
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/health" 2>/dev/null; then break; fi
  sleep 0.5
done
node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/health" || { cat "$work/app.log" >&2; fail "/health did not answer 200"; }
echo "recipe: /health answers 200"

user="$(ps -o user= -p "$app_pid" | tr -d ' ')"
[ "$(id -u)" != 0 ] || [ "$user" = nobody ] || fail "latchkey runs as $user, not nobody"
echo "recipe: latchkey runs as $user"

(cd "$work/app" && PORT="$port" "${run_as[@]}" node healthcheck.js) || fail "the health-check command (node healthcheck.js) exited $?"
echo "recipe: the health-check command exits 0"

status="$(node -e '
  fetch(process.argv[1] + "/auth/register", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "recipe@recipe.test", password: "a recipe password 1" }) })
    .then((r) => console.log(r.status), (e) => console.log(e.message));' "http://127.0.0.1:$port")"
[ "$status" = 201 ] || { cat "$work/app.log" >&2; fail "POST /auth/register answered $status"; }
for _ in $(seq 60); do grep -q 'recipe@recipe.test' "$mails" && break; sleep 0.5; done
grep -q 'recipe@recipe.test' "$mails" || { cat "$work/app.log" >&2; fail "no mail reached SMTP_URL"; }
echo "recipe: a registration's mail reached SMTP_URL"

kill -TERM "$app_pid"
code=0
wait "$app_pid" || code=$?
app_pid=''
[ "$code" = 0 ] || { cat "$work/app.log" >&2; fail "SIGTERM: exit code $code, not 0"; }
echo "recipe: SIGTERM ends it with 0"

echo "recipe: passed in $(($(date +%s) - started)) s"
