"""mx.nd.linalg: MXNet's dense linear algebra operators, run eagerly on NumPy.

Every operator works on the last two axes of its operands (the leading axes are a batch);
`axis` of gemm / gemm2 names the row axis of the matrices, as in MXNet.
"""
import numpy as np

from .base import MXNetError
from .ndarray import NDArray

__all__ = ["gemm", "gemm2", "potrf", "potri", "trsm", "trmm", "sumlogdiag", "syrk", "inverse",
           "det", "slogdet", "extractdiag", "makediag"]


def _data(name, value, what):
    if not isinstance(value, NDArray):
        raise TypeError("linalg.%s: %s must be an NDArray, got %s"
                        % (name, what, type(value).__name__))
    return value._data


def _matrices(name, value, what, square=False):
    a = _data(name, value, what)
    if a.ndim < 2:
        raise MXNetError("linalg.%s: %s must have at least 2 dimensions, got shape %s"
                         % (name, what, a.shape))
    if square and a.shape[-1] != a.shape[-2]:
        raise MXNetError("linalg.%s: %s must hold square matrices, got shape %s"
                         % (name, what, a.shape))
    return a


def _t(a, flag):
    return np.swapaxes(a, -1, -2) if flag else a


def _rows_last(a, axis):
    """Move the row axis `axis` to position -2 (MXNet's gemm axis parameter)."""
    return np.moveaxis(a, axis, -2) if axis not in (-2, a.ndim - 2) else a


def _result(name, value, like, out=None):
    value = np.ascontiguousarray(value, dtype=like.dtype)
    if out is not None:
        if out.shape != value.shape:
            raise MXNetError("linalg.%s: out has shape %s, the result has shape %s"
                             % (name, out.shape, value.shape))
        out._data[...] = value
        return out
    return NDArray(value, like.context)


def _product(name, A, B, transpose_a, transpose_b, axis):
    a = _rows_last(_matrices(name, A, "A"), axis)
    b = _rows_last(_matrices(name, B, "B"), axis)
    a, b = _t(a, transpose_a), _t(b, transpose_b)
    if a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        raise MXNetError("linalg.%s: shapes %s and %s do not multiply (transpose_a=%s, "
                         "transpose_b=%s)" % (name, A.shape, B.shape, transpose_a, transpose_b))
    return np.matmul(a, b)


def _restore_axis(value, axis, ndim):
    return np.moveaxis(value, -2, axis) if axis not in (-2, ndim - 2) else value


def gemm2(A, B, transpose_a=False, transpose_b=False, alpha=1.0, axis=-2, out=None, **kwargs):
    """alpha * op(A) @ op(B)."""
    value = alpha * _product("gemm2", A, B, transpose_a, transpose_b, axis)
    return _result("gemm2", _restore_axis(value, axis, A.ndim), A, out)


def gemm(A, B, C, transpose_a=False, transpose_b=False, alpha=1.0, beta=1.0, axis=-2, out=None,
         **kwargs):
    """alpha * op(A) @ op(B) + beta * C."""
    prod = _product("gemm", A, B, transpose_a, transpose_b, axis)
    c = _rows_last(_matrices("gemm", C, "C"), axis)
    if c.shape != prod.shape:
        raise MXNetError("linalg.gemm: C has shape %s, op(A) @ op(B) has %s"
                         % (C.shape, prod.shape))
    return _result("gemm", _restore_axis(alpha * prod + beta * c, axis, A.ndim), A, out)


def potrf(A, out=None, **kwargs):
    """The lower Cholesky factor L of each symmetric positive-definite A = L L^T."""
    a = _matrices("potrf", A, "A", square=True)
    try:
        value = np.linalg.cholesky(a.astype(np.float64))
    except np.linalg.LinAlgError:
        raise MXNetError("linalg.potrf: A is not positive definite") from None
    return _result("potrf", value, A, out)


def potri(A, out=None, **kwargs):
    """The inverse of L L^T from its Cholesky factor L (A holds L)."""
    low = np.tril(_matrices("potri", A, "A", square=True).astype(np.float64))
    inv_low = np.linalg.inv(low)
    return _result("potri", np.matmul(_t(inv_low, True), inv_low), A, out)


def _triangle(a, lower):
    return np.tril(a) if lower else np.triu(a)


def trmm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, out=None, **kwargs):
    """alpha * op(A) @ B (or B @ op(A) with rightside), A triangular."""
    a = _t(_triangle(_matrices("trmm", A, "A", square=True), lower), transpose)
    b = _matrices("trmm", B, "B")
    value = np.matmul(b, a) if rightside else np.matmul(a, b)
    return _result("trmm", alpha * value, B, out)


def trsm(A, B, transpose=False, rightside=False, lower=True, alpha=1.0, out=None, **kwargs):
    """X with op(A) @ X = alpha * B (X @ op(A) = alpha * B with rightside), A triangular."""
    a = _t(_triangle(_matrices("trsm", A, "A", square=True), lower), transpose)
    b = alpha * _matrices("trsm", B, "B").astype(np.float64)
    if rightside:
        value = _t(np.linalg.solve(_t(a, True), _t(b, True)), True)
    else:
        value = np.linalg.solve(a, b)
    return _result("trsm", value, B, out)


def sumlogdiag(A, out=None, **kwargs):
    """Sum of the logarithms of each matrix's diagonal."""
    a = _matrices("sumlogdiag", A, "A", square=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log(np.diagonal(a, axis1=-2, axis2=-1)).sum(axis=-1)
    return _result("sumlogdiag", np.reshape(value, value.shape or (1,)), A, out)


def syrk(A, transpose=False, alpha=1.0, out=None, **kwargs):
    """alpha * A @ A^T (A^T @ A with transpose)."""
    a = _matrices("syrk", A, "A")
    value = np.matmul(_t(a, True), a) if transpose else np.matmul(a, _t(a, True))
    return _result("syrk", alpha * value, A, out)


def inverse(A, out=None, **kwargs):
    """The inverse of each square matrix."""
    a = _matrices("inverse", A, "A", square=True)
    try:
        value = np.linalg.inv(a.astype(np.float64))
    except np.linalg.LinAlgError:
        raise MXNetError("linalg.inverse: A is singular") from None
    return _result("inverse", value, A, out)


def det(A, out=None, **kwargs):
    """The determinant of each square matrix."""
    value = np.linalg.det(_matrices("det", A, "A", square=True).astype(np.float64))
    return _result("det", np.reshape(value, value.shape or (1,)), A, out)


def slogdet(A, **kwargs):
    """[sign, log |det|] of each square matrix."""
    sign, logdet = np.linalg.slogdet(_matrices("slogdet", A, "A", square=True)
                                     .astype(np.float64))
    return [_result("slogdet", np.reshape(v, np.shape(v) or (1,)), A) for v in (sign, logdet)]


def extractdiag(A, offset=0, out=None, **kwargs):
    """The `offset` diagonal of each matrix."""
    a = _matrices("extractdiag", A, "A")
    return _result("extractdiag", np.diagonal(a, offset, axis1=-2, axis2=-1), A, out)


def makediag(A, offset=0, out=None, **kwargs):
    """Square matrices with A's last axis on their `offset` diagonal."""
    a = _data("makediag", A, "A")
    n = a.shape[-1] + abs(offset)
    value = np.zeros(a.shape[:-1] + (n, n), a.dtype)
    rows = np.arange(a.shape[-1]) + max(0, -offset)
    value[..., rows, rows + offset] = a
    return _result("makediag", value, A, out)
