"""The training job: data → Keras model → `.h5` + `.tflite` + manifest, published with a quality gate.

This is the only package that imports TensorFlow, and only inside the functions that train.
"""
