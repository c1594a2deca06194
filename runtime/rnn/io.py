"""Data for recurrent language models (`mx.rnn.io`): sentence encoding and a bucketing
iterator whose label is the input shifted by one token."""
import bisect
import logging
import random

import numpy as np

from ..base import MXNetError
from ..io import DataBatch, DataDesc, DataIter
from .. import ndarray

__all__ = ["encode_sentences", "BucketSentenceIter"]

_LOG = logging.getLogger("mxc.rnn")


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key='\n',
                     start_label=0, unknown_token=None):
    """Map each token of each sentence to an integer index.

    Without `vocab`, a vocabulary is built ({invalid_key: invalid_label} plus every new
    token, numbered from start_label and skipping invalid_label). With `vocab`, a token
    missing from it is an error unless `unknown_token` is given, in which case it is encoded
    as unknown_token (added to vocab on first use). Returns (encoded sentences, vocab)."""
    building = vocab is None
    if building:
        vocab = {invalid_key: invalid_label}
    next_index = start_label
    encoded = []
    for sentence in sentences:
        codes = []
        for token in sentence:
            if token not in vocab:
                if not (building or unknown_token):
                    raise MXNetError("encode_sentences: unknown token %r (not in the vocab "
                                     "given and no unknown_token)" % (token,))
                if next_index == invalid_label:
                    next_index += 1
                if unknown_token:
                    token = unknown_token
                vocab[token] = next_index
                next_index += 1
            codes.append(vocab[token])
        encoded.append(codes)
    return encoded, vocab


class BucketSentenceIter(DataIter):
    """Batches of encoded sentences grouped by length bucket, for language models.

    Each sentence goes to the smallest bucket at least as long, padded with invalid_label;
    longer sentences are discarded. The label of step t is the token at t + 1 (invalid_label
    after the last). Without `buckets`, every length with at least batch_size sentences is a
    bucket. layout 'NT' gives (batch, length) arrays, 'TN' (length, batch). Each batch
    carries its bucket_key (the bucket's length); reset() shuffles the batch order and the
    sentences within each bucket."""

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1,
                 data_name='data', label_name='softmax_label', dtype='float32',
                 layout='NT'):
        super(BucketSentenceIter, self).__init__(batch_size)
        if layout not in ('NT', 'TN'):
            raise MXNetError("BucketSentenceIter: layout must be 'NT' (batch major) or 'TN' "
                             "(time major), got %r" % (layout,))
        if not buckets:
            counts = np.bincount([len(s) for s in sentences])
            buckets = [length for length, count in enumerate(counts) if count >= batch_size]
        buckets = sorted(buckets)
        if not buckets:
            raise MXNetError("BucketSentenceIter: no bucket (no sentence length occurs "
                             "batch_size=%d times; give buckets explicitly)" % batch_size)

        rows = [[] for _ in buckets]
        discarded = 0
        for sentence in sentences:
            k = bisect.bisect_left(buckets, len(sentence))
            if k == len(buckets):
                discarded += 1
                continue
            row = np.full((buckets[k],), invalid_label, dtype=dtype)
            row[:len(sentence)] = sentence
            rows[k].append(row)
        if discarded:
            _LOG.warning("BucketSentenceIter: discarded %d sentences longer than the largest "
                         "bucket (%d)", discarded, buckets[-1])
        kept = [k for k in range(len(buckets)) if rows[k]]
        if not kept:
            raise MXNetError("BucketSentenceIter: every sentence is longer than the largest "
                             "bucket (%d)" % buckets[-1])
        self.buckets = [buckets[k] for k in kept]
        self.data = [np.asarray(rows[k], dtype=dtype) for k in kept]

        self.batch_size = batch_size
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.layout = layout
        self.major_axis = layout.find('N')
        self.default_bucket_key = max(self.buckets)
        shape = self._shape(self.default_bucket_key)
        self.provide_data = [DataDesc(name=data_name, shape=shape, layout=layout)]
        self.provide_label = [DataDesc(name=label_name, shape=shape, layout=layout)]

        self.idx = [(k, start) for k, bucket in enumerate(self.data)
                    for start in range(0, len(bucket) - batch_size + 1, batch_size)]
        self.curr_idx = 0
        self.nddata = []
        self.ndlabel = []
        self.reset()

    def _shape(self, length):
        return (self.batch_size, length) if self.major_axis == 0 else \
            (length, self.batch_size)

    def reset(self):
        """Rewind; shuffle the batch order and the sentences inside each bucket."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for bucket in self.data:
            np.random.shuffle(bucket)
        self.nddata = []
        self.ndlabel = []
        for bucket in self.data:
            label = np.empty_like(bucket)
            label[:, :-1] = bucket[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(ndarray.array(bucket, dtype=self.dtype))
            self.ndlabel.append(ndarray.array(label, dtype=self.dtype))

    def next(self):
        """The next DataBatch (bucket_key = its sequence length)."""
        if self.curr_idx == len(self.idx):
            raise StopIteration
        k, start = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self.nddata[k][start:start + self.batch_size]
        label = self.ndlabel[k][start:start + self.batch_size]
        if self.major_axis == 1:
            data, label = data.T, label.T
        return DataBatch([data], [label], pad=0, bucket_key=self.buckets[k],
                         provide_data=[DataDesc(name=self.data_name, shape=data.shape,
                                                layout=self.layout)],
                         provide_label=[DataDesc(name=self.label_name, shape=label.shape,
                                                 layout=self.layout)])
