import pytest

from imagelab.registry import Registry, RegistryError


def test_unknown_name_lists_what_exists():
    registry = Registry("generator")
    registry.register("vae")(object)
    registry.register("ddpm")(dict)
    with pytest.raises(RegistryError, match="unknown generator 'ddmp'; available: ddpm, vae"):
        registry.get("ddmp")


def test_duplicate_registration_names_the_first():
    registry = Registry("generator")

    @registry.register("vae")
    class First:
        pass

    with pytest.raises(RegistryError, match="registered twice: first by .*First"):
        registry.register("vae")(dict)


def test_module_path_is_loaded_and_bad_paths_are_explained():
    registry = Registry("generator")
    assert registry.get("collections:OrderedDict").__name__ == "OrderedDict"
    with pytest.raises(RegistryError, match="cannot import module 'no_such_module_xyz'"):
        registry.get("no_such_module_xyz:Thing")
    with pytest.raises(RegistryError, match="has no attribute 'Nope'"):
        registry.get("collections:Nope")


def test_a_broken_entry_point_is_reported_not_fatal(monkeypatch):
    class FakeEntryPoint:
        def __init__(self, name, value, obj=None):
            self.name, self.value, self.obj, self.dist = name, value, obj, None

        def load(self):
            if self.obj is None:
                raise ImportError("missing dependency")
            return self.obj

    points = [FakeEntryPoint("broken", "pkg:Broken"), FakeEntryPoint("good", "pkg:Good", obj=int)]
    monkeypatch.setattr("imagelab.registry.entry_points", lambda group: points)
    monkeypatch.delenv("IMAGELAB_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    registry = Registry("generator", entry_point_group="imagelab.generators")
    registry.register("vae")(object)
    assert registry.names() == ["good", "vae"]
    assert "missing dependency" in registry.broken["broken"]
    with pytest.raises(RegistryError, match="plugin 'broken' failed to load"):
        registry.get("broken")


def test_a_validator_refuses_what_is_not_of_the_kind_from_every_source(monkeypatch):
    class FakeEntryPoint:
        name, value, dist = "factory", "pkg:make", None

        def load(self):
            return len  # a function, not a class

    def only_classes(obj):
        return None if isinstance(obj, type) else f"names a {type(obj).__name__}, not a class"

    monkeypatch.setattr("imagelab.registry.entry_points", lambda group: [FakeEntryPoint()])
    monkeypatch.delenv("IMAGELAB_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    registry = Registry("generator", entry_point_group="imagelab.generators", validate=only_classes)
    registry.register("ok")(dict)
    with pytest.raises(RegistryError, match="generator 'bad' \\(built-in\\): names a builtin_function_or_method"):
        registry.register("bad")(len)
    assert registry.names() == ["ok"]
    assert registry.broken["factory"] == "pkg:make: names a builtin_function_or_method, not a class"
    with pytest.raises(RegistryError, match="'os.path:join': names a function, not a class"):
        registry.get("os.path:join")
    assert registry.get("collections:OrderedDict").__name__ == "OrderedDict"
