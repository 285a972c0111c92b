"""The web edge: the HTTP API, the Gradio chat page and widget, the document library, the app.

Nothing below qa.web imports it."""
