# Weights cross between convae and Keras both ways, and both predict the same images:
#   convae -> Keras: the lab trains 1 epoch and writes weights.npz and reconstructions.npy; the
#     lab's Keras model takes weights.npz with set_weights and predicts the same test images.
#   Keras -> convae: the Keras model trains 1 epoch, np.savez(FILE, *model.get_weights()); the
#     lab with --load-weights FILE --epochs 0 writes reconstructions.npy of the same images.
# Each largest difference per pixel must be under 1e-5.
# usage: python3 tests/keras_roundtrip.py LAB DATA_DIR   (a Python with tensorflow and numpy)
import gzip, os, subprocess, sys, tempfile
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
from tensorflow.keras import layers, models

lab, data = sys.argv[1], sys.argv[2]
N = 200  # test images compared


def idx(stem):
    p = os.path.join(data, stem)
    b = gzip.open(p + ".gz").read() if os.path.exists(p + ".gz") else open(p, "rb").read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def keras_model():
    """The lab's model as the course writes it in Keras."""
    inp = layers.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inp)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    out = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    return models.Model(inp, out)


def run(*args):
    r = subprocess.run([lab, "--data", data, "--tsne", str(N)] + list(args), capture_output=True, text=True)
    if r.returncode:
        sys.exit("FAILED: %s: %s" % (" ".join(args), r.stderr.strip()))


x_test = (idx("t10k-images-idx3-ubyte")[:N].astype("float32") / 255.0)[..., None]
fail = 0
with tempfile.TemporaryDirectory() as tmp:
    # convae -> Keras
    run("--epochs", "1", "--limit", "2000", "--out", tmp + "/c")
    w = np.load(tmp + "/c/weights.npz")
    m = keras_model()
    m.set_weights([w["arr_%d" % i] for i in range(len(w.files))])
    d1 = float(np.abs(m.predict(x_test, verbose=0) - np.load(tmp + "/c/reconstructions.npy")).max())
    print("convae -> Keras: %d arrays into set_weights; Keras predicts %d test images within %.2e of convae"
          % (len(w.files), N, d1))
    # Keras -> convae
    tf.keras.utils.set_random_seed(7)
    k = keras_model()
    k.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x_train = (idx("train-images-idx3-ubyte")[:2000].astype("float32") / 255.0)[..., None]
    k.fit(x_train, x_train, epochs=1, batch_size=256, verbose=0)
    np.savez(tmp + "/k.npz", *k.get_weights())
    run("--load-weights", tmp + "/k.npz", "--epochs", "0", "--out", tmp + "/k")
    d2 = float(np.abs(k.predict(x_test, verbose=0) - np.load(tmp + "/k/reconstructions.npy")).max())
    print("Keras -> convae: np.savez(*get_weights()) into --load-weights; convae predicts %d test images within %.2e"
          " of Keras" % (N, d2))
    for what, d in (("convae -> Keras", d1), ("Keras -> convae", d2)):
        if not d < 1e-5:
            print("FAILED: %s: largest difference %.3g per pixel, more than 1e-5" % (what, d))
            fail = 1
print("TensorFlow %s, NumPy %s" % (tf.__version__, np.__version__))
sys.exit(fail)
