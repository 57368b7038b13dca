"""inv lab.*: lab hosts on this machine, network namespaces with their own sshd."""
