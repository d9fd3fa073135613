"""The stream pages: list, see, create, edit, archive and restore a server's message streams.

Views call `streams.services`, which calls the Postmark client from `dashboard.postmark`.
"""
