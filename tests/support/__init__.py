"""Test support code, imported by tests and benchmarks (never by the product).

- `paths`: where the repository and `../shared` are;
- `images`: small generated images;
- `model_factory`: a tiny real model exported like a trained one;
- `pipeline`: the whole data path in one process (moto stack from the template, the real handler,
  the local worker);
- `hostile_corpus` + `measure`: the hostile uploads and the time/peak-memory meter for them.
"""
