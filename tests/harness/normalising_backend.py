#!/usr/bin/env python3
"""A file-serving backend that normalises request paths the way real application servers do,
for the tests that check a gateway judges requests as the backend reads them.

    normalising_backend.py DIRECTORY MODE

MODE `python` is python's own http.server (SimpleHTTPRequestHandler): it percent-decodes the
whole path (`%2F` included), resolves `..` and merges `//`. MODE `loose` reads paths as IIS,
Tomcat and Windows do on top of that: `\\` is `/`, case is folded, `;parameters` are dropped
from each segment before dot segments are resolved, and trailing dots and spaces of each
segment after. It binds 127.0.0.1
port 0, prints the port on one line, and serves until killed. Each answer names the mode in the
`X-Backend` header.
"""
import functools
import http.server
import posixpath
import sys
import urllib.parse


class Python(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("X-Backend", self.server.mode)
        super().end_headers()

    def log_message(self, *args):
        pass


class Loose(Python):
    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        path = urllib.parse.unquote(path).replace("\\", "/").lower()
        # Tomcat drops parameters before it resolves dot segments (so `..;x` is `..`); Windows
        # trims a segment's trailing dots and spaces after.
        path = "/".join(s.split(";", 1)[0] for s in path.split("/"))
        segments = posixpath.normpath("/" + path).split("/")
        path = "/" + "/".join(t for t in (s.rstrip(". ") for s in segments) if t)
        return super().translate_path(urllib.parse.quote(path))


def main():
    directory, mode = sys.argv[1], sys.argv[2]
    handler = {"python": Python, "loose": Loose}[mode]
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=directory)
    )
    server.mode = mode
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
