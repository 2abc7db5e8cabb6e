(module (func (block (br 3))))
