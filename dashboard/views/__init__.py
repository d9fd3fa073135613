"""The dashboard's views, by area. Each is thin: access decorator, form, one service call, response."""
