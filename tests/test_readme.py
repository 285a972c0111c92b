from qa.config import PROJECT_ROOT, Settings


def test_readme_documents_every_setting_and_the_two_commands():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`QA_{name.upper()}`" not in readme]
    assert not missing, f"settings missing from the README: {missing}"
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in readme and "./run.sh app" in readme
