// The resnetc model language (.resnet files). Newlines are not significant: every item starts with a keyword.
// Kinds (block, shortcut, naming convention) are plain identifiers so the checker can name what is wrong
// with a position instead of the parser failing on an unknown word.
grammar Resnet;

spec   : model EOF ;
model  : 'model' name=ID '{' item* '}' ;

item
  : 'input' dtype=ID layout=ID? '[' dims+=INT (',' dims+=INT)* ']'      # inputItem
  | 'preprocess' '{' preOpt* '}'                                        # preprocessItem
  | 'classes' INT                                                       # classesItem
  | 'labels' STRING                                                     # labelsItem
  | 'bn_eps' number                                                     # epsItem
  | 'bn' how=ID                                                         # bnItem
  | 'stem' '{' layer* '}'                                               # stemItem
  | 'block' blockSpec                                                   # blockItem
  | 'shortcut' shortcutSpec                                             # shortcutItem
  | 'stage' name=ID? count=INT 'x' width=INT ('stride' stride=INT)? ('{' stageOpt* '}')?   # stageItem
  | 'stage' name=ID? size=KERNEL ('stride' stride=INT)? ('{' stageOpt* '}')?               # stageShortItem
  | 'head' '{' layer* '}'                                               # headItem
  | 'weights' convention=ID ('{' weightOpt* '}')?                       # weightsItem
  ;

preOpt
  : 'scale' num=number ('/' den=number)?     # scaleOpt
  | 'mean' list                              # meanOpt
  | 'std' list                               # stdOpt
  | 'resize' INT                             # resizeOpt
  | 'crop' INT                               # cropOpt
  ;

layer
  : 'conv' KERNEL out=INT convOpt*           # convLayer
  | 'bn'                                     # bnLayer
  | 'relu'                                   # reluLayer
  | 'maxpool' KERNEL poolOpt*                # maxpoolLayer
  | 'avgpool' (KERNEL poolOpt*)?             # avgpoolLayer
  | 'fc' out=INT? 'nobias'?                  # fcLayer
  | 'softmax'                                # softmaxLayer
  ;

convOpt : 'stride' INT | 'pad' INT | 'bias' ;
poolOpt : 'stride' INT | 'pad' INT ;

blockSpec : kind=ID blockOpt* ;
blockOpt
  : 'expansion' INT                          # expansionOpt
  | 'stride_on' KERNEL                       # strideOnOpt
  | 'groups' INT                             # groupsOpt
  | 'width_per_group' INT                    # widthPerGroupOpt
  | 'widen' INT                              # widenOpt
  | 'preact'                                 # preactOpt
  ;

shortcutSpec : kind=ID placement=ID? ;

stageOpt
  : 'block' blockSpec                        # stageBlockOpt
  | 'shortcut' shortcutSpec                  # stageShortcutOpt
  | blockOpt                                 # stageTweakOpt
  ;

weightOpt
  : 'prefix' STRING                          # prefixOpt
  | 'rename' from=STRING '->' to=STRING      # renameOpt
  | 'file' STRING                            # fileOpt
  ;

list   : '[' number (',' number)* ']' ;
number : '-'? (INT | FLOAT) ;

KERNEL  : [0-9]+ 'x' [0-9]+ ;
FLOAT   : [0-9]+ '.' [0-9]* EXP? | '.' [0-9]+ EXP? | [0-9]+ EXP ;
INT     : [0-9]+ ;
ID      : [a-zA-Z_] [a-zA-Z_0-9.]* ;
STRING  : '"' (~["\\\r\n] | '\\' .)* '"' ;
fragment EXP : [eE] [+-]? [0-9]+ ;

COMMENT : ('#' | '//') ~[\r\n]* -> skip ;
WS      : [ \t\r\n]+ -> skip ;
// Anything else becomes a token the parser rejects with a position, instead of a lexer error.
ERRCHAR : . ;
