"""Name registries for metrics and initializers (MXNet's mx.registry): register / alias /
create from a name, a dict, or a JSON `[name, kwargs]` / `{kwargs}` string."""
import json
import warnings

_REGISTRIES = {}


def get_registry(base_class):
    """The {lowercased name: class} table of one base class."""
    return _REGISTRIES.setdefault(base_class, {})


def get_register_func(base_class, nickname):
    """A decorator registering subclasses of base_class under their lowercased class name."""
    registry = get_registry(base_class)

    def register(klass, name=None):
        if not (isinstance(klass, type) and issubclass(klass, base_class)):
            raise TypeError("Can only register subclass of %s, got %r"
                            % (base_class.__name__, klass))
        name = (name or klass.__name__).lower()
        if name in registry and registry[name] is not klass:
            warnings.warn("New %s %s.%s is overriding existing %s %s.%s"
                          % (nickname, klass.__module__, klass.__name__, nickname,
                             registry[name].__module__, registry[name].__name__),
                          UserWarning, stacklevel=2)
        registry[name] = klass
        return klass
    register.__doc__ = "Register a %s class under its lowercased class name." % nickname
    return register


def get_alias_func(base_class, nickname):
    """A decorator factory registering a class under extra names."""
    registry = get_registry(base_class)

    def alias(*aliases):
        def reg(klass):
            for name in aliases:
                registry[name.lower()] = klass
            return klass
        return reg
    alias.__doc__ = "Register a %s class under extra (lowercased) names." % nickname
    return alias


def get_create_func(base_class, nickname):
    """create(name_or_instance_or_spec, *args, **kwargs) -> an instance of base_class."""
    registry = get_registry(base_class)

    def create(*args, **kwargs):
        if args:
            name, args = args[0], args[1:]
        else:
            name = kwargs.pop(nickname)
        if isinstance(name, base_class):
            if args or kwargs:
                raise ValueError("%s is already an instance. Additional arguments are invalid"
                                 % nickname)
            return name
        if isinstance(name, dict):
            return create(**name)
        if not isinstance(name, str):
            raise TypeError("%s must be of string type, got %r" % (nickname, name))
        if name.startswith("["):
            if args or kwargs:
                raise ValueError("a JSON %s spec takes no extra arguments" % nickname)
            name, kwargs = json.loads(name)
            return create(name, **kwargs)
        if name.startswith("{"):
            if args or kwargs:
                raise ValueError("a JSON %s spec takes no extra arguments" % nickname)
            return create(**json.loads(name))
        name = name.lower()
        if name not in registry:
            raise AssertionError("%s is not registered. Please register with %s.register "
                                 "first" % (name, nickname))
        return registry[name](*args, **kwargs)
    create.__doc__ = "Create a %s from an instance, a name, a dict or JSON." % nickname
    return create
