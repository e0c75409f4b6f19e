"""The target the locust_*.csv files were measured against: GET /ok answers
1,000 bytes, /fail answers 500 (`python3 target.py PORT`). The Rust test
serves the same answers itself."""
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/fail"):
            body = b"boom"
            self.send_response(500)
        else:
            body = b"x" * 1000
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
