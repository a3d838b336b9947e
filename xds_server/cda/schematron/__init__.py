"""The ANS kit's ISO Schematrons, compiled to XSLT 2.0 by the product and run with Saxon."""

from .assemble import SchematronError, assemble
from .runner import KitSchematrons, compile_schematron

__all__ = ["KitSchematrons", "SchematronError", "assemble", "compile_schematron"]
