"""xds-server: IHE XDS.b registry, repository and consumer for the DMP and the ANS CI-SIS."""

__version__ = "0.1.0"
