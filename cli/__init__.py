"""The ``meibo`` command (the top layer): parses arguments, calls the packages below, prints.

``main.py`` dispatches; each other module registers one group of commands. Domain logic lives in
the packages below, never here.
"""
