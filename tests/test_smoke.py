def test_placeholder_import():
    import qa.cli  # noqa: F401
