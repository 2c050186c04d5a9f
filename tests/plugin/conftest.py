"""The plugin's own tests run pytest inside pytest, with the ``pytester`` fixture.

``pytest_plugins = ["pytester"]`` is refused in a conftest below the rootdir when the whole
suite runs, so the plugin is registered here when this folder's conftest is loaded instead.
"""


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
