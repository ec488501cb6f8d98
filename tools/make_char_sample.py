#!/usr/bin/python3
"""make_char_sample.py: writes examples/char_lstm/sample.npy, 50 characters of the GPL-3 text
one-hot encoded over the text's sorted distinct bytes ([1, 50, 76], batch-first), the input the
demo feeds to the char LSTM before and after widening."""
import numpy as np

text = open("examples/data/gpl-3.txt", "rb").read()
vocab = sorted(set(text))
index = {b: i for i, b in enumerate(vocab)}
chunk = text[1000:1050]
x = np.zeros((1, len(chunk), len(vocab)), dtype=np.float32)
for t, b in enumerate(chunk):
    x[0, t, index[b]] = 1.0
np.save("examples/char_lstm/sample.npy", x)
