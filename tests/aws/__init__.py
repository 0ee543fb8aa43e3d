"""AWS tier: a real moto server (``ThreadedMotoServer``) over HTTP; flow runs against the emulator too."""
