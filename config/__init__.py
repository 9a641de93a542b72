from config.settings import ConfigError, Settings, load_settings, secret

__all__ = ["ConfigError", "Settings", "load_settings", "secret"]
