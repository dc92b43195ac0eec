"""The load benchmark: an open-loop load generator and its targets, run by `make bench`.

A developer's tool beside the app, never in its package, wheel or image: it starts the
app's own stack (`umbrella.devstack`), loads the dataset of `umbrella seed --artists …`
(`umbrella.dataset`), and sends its email to the tests' fake Resend (`tests.fakes.resend`).
"""
