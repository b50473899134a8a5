#!/usr/bin/env python3
"""An FTP server on 127.0.0.1 (Debian's python3-pyftpdlib) for the tls
check's STARTTLS: given a certificate and key, one that answers AUTH TLS;
without, one that refuses it as a server without TLS does.

    ftpd.py PORT [CERT KEY]
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer


def main(argv):
    port = int(argv[1])
    logging.basicConfig(level=logging.WARNING)
    if len(argv) == 4:
        handler = TLS_FTPHandler
        handler.certfile = argv[2]
        handler.keyfile = argv[3]
    else:
        handler = FTPHandler
    handler.authorizer = DummyAuthorizer()
    handler.banner = 'shipwatch test FTP server ready.'
    FTPServer(('127.0.0.1', port), handler).serve_forever()


if __name__ == '__main__':
    main(sys.argv)
