// What an unchanged frontend of the original service does, with the official socket.io-client:
// a bad token is refused at connect; a good one connects, sends `chat:message`, and gets
// `chat:ack` and `chat:response`. Prints one JSON object for tests/socketio/test_js_client.py.
//
// env: CHAT_URL (http://127.0.0.1:PORT), CHAT_TOKEN, CHAT_TRANSPORTS (optional, "websocket")
import { io } from "socket.io-client";

const url = process.env.CHAT_URL;
const token = process.env.CHAT_TOKEN;
const transports = process.env.CHAT_TRANSPORTS ? process.env.CHAT_TRANSPORTS.split(",") : undefined;
const TIMEOUT_MS = 30000; // a fresh server loads the agent pipeline on its first message

function connect(auth) {
  return io(url, { auth, transports, reconnection: false, forceNew: true });
}

function once(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    socket.once(event, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

async function refused() {
  const socket = connect({ token: "not-a-jwt" });
  const connected = once(socket, "connect").then(() => {
    throw new Error("a bad token was accepted");
  });
  try {
    const err = await Promise.race([once(socket, "connect_error"), connected]);
    return { message: err.message, data: err.data ?? null };
  } finally {
    socket.close();
  }
}

async function chat() {
  const socket = connect({ token });
  socket.on("connect_error", (err) => console.error(`connect_error: ${err.message}`));
  socket.on("error", (body) => console.error(`error event: ${JSON.stringify(body)}`));
  try {
    const greeting = await once(socket, "connected");
    const ack = once(socket, "chat:ack");
    const response = once(socket, "chat:response");
    socket.emit("chat:message", { content: "What is my account balance?", clientMessageId: "js-1" });
    const result = { greeting, ack: await ack, response: await response };
    // Let an upgrade from polling settle so the transport reported is the one in use.
    await new Promise((resolve) => setTimeout(resolve, 300));
    result.transport = socket.io.engine.transport.name;
    return result;
  } finally {
    socket.close();
  }
}

try {
  const result = { refused: await refused(), ...(await chat()) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  console.error(err.stack ?? String(err));
  process.exit(1);
}
