"""mx.test_utils: helpers for tests and examples (file download, ...)."""
import errno
import logging
import os
import tempfile
import urllib.request

__all__ = ["download"]


def _fetch_to(url, fname, chunk_size=1024):
    """Stream `url` into `fname` through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(fname))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(fname),
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            status = getattr(resp, "status", resp.getcode())
            if status != 200:
                raise RuntimeError("failed to open %s: HTTP status %s" % (url, status))
            expected = resp.headers.get("Content-Length")
            received = 0
            while True:
                chunk = resp.read(chunk_size)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
            if expected is not None and received != int(expected):
                raise IOError("download of %s interrupted: got %d of %s bytes"
                              % (url, received, expected))
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """Download `url` to `fname` (default: the URL's last component) and return the path.

    An existing file is kept unless `overwrite`; up to `retries` attempts are made; a
    failed download leaves no file behind.
    """
    assert retries >= 0, "Number of retries should be at least 0, currently it's %s" % retries
    if fname is None:
        fname = url.split("/")[-1]
    if dirname is None:
        dirname = os.path.dirname(fname)
    else:
        fname = os.path.join(dirname, fname)
    if dirname != "" and not os.path.exists(dirname):
        try:
            logging.info("create directory %s", dirname)
            os.makedirs(dirname)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise OSError("failed to create " + dirname) from exc
    if not overwrite and os.path.exists(fname):
        logging.info("%s exists, skipping download", fname)
        return fname
    while retries + 1 > 0:
        try:
            _fetch_to(url, fname)
            break
        except Exception as err:  # any failure counts as one attempt
            retries -= 1
            if retries <= 0:
                raise
            print("download failed due to %r, retrying, %d attempt%s left"
                  % (err, retries, "s" if retries > 1 else ""))
    logging.info("downloaded %s into %s successfully", url, fname)
    return fname
