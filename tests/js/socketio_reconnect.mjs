// A frontend with socket.io-client's default reconnection, across a server restart: prints one
// JSON line per `connected` greeting and per `disconnect`, and exits 0 after the second
// greeting (tests/socketio/test_js_client.py restarts the server in between).
//
// env: CHAT_URL, CHAT_TOKEN
import { io } from "socket.io-client";

const socket = io(process.env.CHAT_URL, { auth: { token: process.env.CHAT_TOKEN } });
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
let greetings = 0;

socket.on("connected", () => {
  greetings += 1;
  print({ event: "connected", greetings });
  if (greetings === 2) {
    socket.close();
    process.exit(0);
  }
});
socket.on("disconnect", (reason) => print({ event: "disconnect", reason }));
setTimeout(() => {
  console.error("no reconnection within 45 s");
  process.exit(1);
}, 45000);
