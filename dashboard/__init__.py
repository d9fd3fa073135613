"""The dashboard's core: settings, people and access, and the Postmark client and sandbox.

It never imports the `streams` app: data flows from `streams` into this package, not back.
"""
