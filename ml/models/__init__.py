"""The land-cover methods. Model code uses the Keras API and keras.ops only (any Keras backend)."""
