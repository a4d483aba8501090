// The container's health check (Dockerfile HEALTHCHECK, compose.yaml): exit 0 when latchkey answers
// GET /health/ready with 200 (the process runs and its database answers) within 3 seconds, 1
// otherwise. Plain Node, no dependency: slim images have no curl or wget.
const port = process.env.PORT || '3000';
fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(3000) }).then(
  (response) => process.exit(response.status === 200 ? 0 : 1),
  () => process.exit(1),
);
