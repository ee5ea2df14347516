#!/usr/bin/env python3
"""A tiny OpenAI-compatible chat-completion server for the llm_features example's test (standard library only).

    fake_llm_server.py PORT_FILE [REQUEST_LOG]

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, and answers every POST .../chat/completions
with the Python list ['Feature of <last line of the user message>', 'Shared.']; appends each request's user message
to REQUEST_LOG (one JSON string a line) so the test can count what was asked. Stops when its parent test kills it.
FAKE_LLM_DELAY=SECONDS makes every answer take that long.
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if len(sys.argv) > 2:
            with open(sys.argv[2], "a") as log:
                log.write(json.dumps(user) + "\n")
        time.sleep(float(os.environ.get("FAKE_LLM_DELAY", "0")))
        report = user.split("Symptoms (ECG report): ")[-1].split("\n")[0]
        answer = {"choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": f"['Feature of {report}', 'Shared.']"}}]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
